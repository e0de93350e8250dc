"""The bundled demo: synthetic shapes images and the project built from them."""
