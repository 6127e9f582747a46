"""The one thing pyproject.toml cannot say: the top-level resources/ ships inside the package.

The stylesheet and icons stay where the project layout keeps them (``resources/``), and the
built wheel carries them as ``cnnstudio/gui/resources/`` (``package_dir`` maps one onto the
other). ``cnnstudio/gui/style.py`` finds them in either place; everything else is declared in
pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["cnnstudio*"]) + ["cnnstudio.gui.resources"],
    package_dir={"cnnstudio.gui.resources": "resources"},
)
