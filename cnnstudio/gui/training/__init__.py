"""The training face: the form (`setup_panel`), the queue under it (`queue_panel`), the Training
tab's curves (`training_tab`), a fit's life in the GUI thread (`session`) and on its QThread
(`worker`), and the Find LR and Tricks study dialogs."""
