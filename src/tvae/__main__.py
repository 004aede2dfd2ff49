"""``python -m tvae``: the same as the ``tvae`` command."""

from tvae.cli import main

if __name__ == "__main__":
    main()
