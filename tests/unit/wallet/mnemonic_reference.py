#!/usr/bin/python3
"""Reference BIP39 data from Debian's python3-mnemonic, for bip39_reference_test.

Prints COUNT lines: entropy hex, passphrase (hex of its ASCII bytes),
mnemonic, seed hex - tab-separated. Entropy and passphrases are random.
"""
import os
import random
import sys

from mnemonic import Mnemonic

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
m = Mnemonic("english")
for i in range(count):
    size = 32 if i % 2 == 0 else random.choice([16, 20, 24, 28, 32])
    entropy = os.urandom(size)
    passphrase = "" if i % 5 == 0 else "".join(
        chr(random.randint(0x20, 0x7E)) for _ in range(random.randint(1, 40)))
    words = m.to_mnemonic(entropy)
    assert m.check(words)
    seed = Mnemonic.to_seed(words, passphrase)
    print("\t".join([entropy.hex(), passphrase.encode().hex(), words, seed.hex()]))
