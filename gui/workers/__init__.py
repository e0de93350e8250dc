"""Background work: the proposal worker thread and the training process."""
