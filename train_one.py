"""``python train_one.py -id 173 -symbol ADAETH``: the same as ``coinlstm train ...``."""

import sys

import coinlstm.app.cli

if __name__ == "__main__":
    sys.exit(coinlstm.app.cli.main(["train", *sys.argv[1:]]))
