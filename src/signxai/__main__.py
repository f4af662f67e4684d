"""``python -m signxai``: the same as the ``signxai`` command."""

from signxai.cli import main

main()
