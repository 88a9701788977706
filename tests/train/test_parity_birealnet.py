"""PyTorch vs engine parity on a freshly trained tiny Bi-Real Net (model.py family "birealnet").

The checks are test_parity.TestParity's (every exit's argmax agrees on >= 99.5 % of the clips,
logits close, the engine's early exit matches the all-exits logits); only the model differs:
three stages of binary 3x3 convs, each with its real-valued shortcut, the two downsampling
shortcuts avgpool + 1x1 conv, and an exit after every block.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train:tests/train /usr/bin/python3 \
         tests/train/test_parity_birealnet.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_parity  # noqa: E402  (the module, so unittest does not collect TestParity here too)

BIREAL_SMALL_CONFIG = {"family": "birealnet", "name": "parity-birealnet",
                       "stages": [[8, 2], [16, 2], [24, 1]], "exits": [1, 2, 3, 4, 5]}


class TestParityBiRealNet(test_parity.TestParity):
    CONFIG = BIREAL_SMALL_CONFIG

    def test_graph_is_birealnet(self):
        # Every bconv2d is the second input of an add whose first input is its shortcut: the
        # block's own input, or avgpool2d -> conv2d 1x1 when it downsamples; no activation
        # anywhere between binary convs.
        from beenet_train.evaluate import nodes_from_gguf
        nodes = nodes_from_gguf(self.out)
        producer = {i + 1: n for i, n in enumerate(nodes)}
        n_bconv = n_down = 0
        for i, n in enumerate(nodes):
            if n["op"] != "bconv2d":
                continue
            n_bconv += 1
            self.assertEqual(n["activation"], "none")
            add = nodes[i + 1]
            self.assertEqual((add["op"], add["inputs"][1], add["activation"]), ("add", i + 1, "none"))
            sc = add["inputs"][0]
            if sc == n["inputs"][0]:
                continue
            n_down += 1
            conv = producer[sc]
            self.assertEqual((conv["op"], conv["kernel"], conv["activation"]), ("conv2d", [1, 1], "none"))
            self.assertEqual(producer[conv["inputs"][0]]["op"], "avgpool2d")
            self.assertEqual(producer[conv["inputs"][0]]["inputs"][0], n["inputs"][0])
        self.assertEqual(n_bconv, 5)
        self.assertEqual(n_down, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
