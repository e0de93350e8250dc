"""Parts of the main window, split by responsibility (menus, navigation, proposals, status)."""
