"""``python -m dlmbuild`` is the same program as ``dlm``."""

from dlmbuild.cli.app import main

if __name__ == "__main__":
    main()
