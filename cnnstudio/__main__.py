"""`python -m cnnstudio` does exactly what the `cnnstudio` console script does."""

from cnnstudio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
