"""`python -m gnomon` runs the command-line interface."""

from gnomon.cli import main

if __name__ == "__main__":
    main()
