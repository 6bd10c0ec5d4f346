"""`python -m viper.cli`: the same as the `viper` command."""

import sys

from viper.cli import main

sys.exit(main())
