"""PyTorch vs engine parity on a freshly trained tiny MeliusNet (model.py family "meliusnet").

The checks are test_parity.TestParity's (every exit's argmax agrees on >= 99.5 % of the clips,
logits close, the engine's early exit matches the all-exits logits); only the model differs:
a stem of grouped full-precision convs, then units of a dense layer (binary 3x3 conv
concatenated onto the feature map) and an improvement layer (binary 3x3 conv added onto the
channels the dense layer appended: format-version-2 `add` with `channel_offset`), and an exit
after every unit.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train:tests/train /usr/bin/python3 \
         tests/train/test_parity_meliusnet.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_parity  # noqa: E402  (the module, so unittest does not collect TestParity here too)

MELIUS_SMALL_CONFIG = {"family": "meliusnet", "name": "parity-meliusnet", "stem": [4, 8],
                       "stem_groups": [2, 4], "stem_channels": 8, "stages": [[8, 2], [16, 2], [16, 1]],
                       "transitions": [16, 24], "exits": [1, 2, 3, 4, 5]}


class TestParityMeliusNet(test_parity.TestParity):
    CONFIG = MELIUS_SMALL_CONFIG

    def test_graph_is_meliusnet(self):
        # The stem's second and third convs are grouped; every unit is bconv2d -> concat ->
        # bconv2d (reading the whole concatenated map) -> add onto its newest channels.
        from beenet_train.evaluate import nodes_from_gguf
        nodes = nodes_from_gguf(self.out)
        stem = [(n["op"], n.get("groups")) for n in nodes[:4]]
        self.assertEqual(stem, [("conv2d", 1), ("maxpool2d", None), ("conv2d", 2), ("conv2d", 4)])
        units = []
        for i, n in enumerate(nodes):
            if n["op"] != "concat":
                continue
            imp, add = nodes[i + 1], nodes[i + 2]
            self.assertEqual(nodes[i - 1]["op"], "bconv2d")
            self.assertEqual((imp["op"], imp["inputs"]), ("bconv2d", [i + 1]))
            self.assertEqual((add["op"], add["inputs"]), ("add", [i + 1, i + 2]))
            units.append((add["channel_offset"], imp["out_channels"]))
        self.assertEqual(units, [(8, 8), (16, 8), (16, 16), (32, 16), (24, 16)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
