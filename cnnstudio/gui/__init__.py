"""The desktop app: the only package that imports PySide6 and pyqtgraph.

`cnnstudio.gui.app.main()` starts it; `state.StudioState` is the contract every tab codes to.
"""
