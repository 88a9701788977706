"""PyTorch vs engine parity on a freshly trained tiny BinaryDenseNet (model.py family "densenet").

The checks are test_parity.TestParity's (every exit's argmax agrees on >= 99.5 % of the clips,
logits close, the engine's early exit matches the all-exits logits); only the model differs:
three dense blocks whose binary 3x3 convs are concatenated onto the running feature map
(format-version-2 `concat`), two transitions (maxpool, affine + ReLU, full-precision 1x1 conv)
and an exit after every dense layer.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train:tests/train /usr/bin/python3 \
         tests/train/test_parity_densenet.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_parity  # noqa: E402  (the module, so unittest does not collect TestParity here too)

DENSE_SMALL_CONFIG = {"family": "densenet", "name": "parity-densenet", "stem_channels": 8,
                      "stages": [[8, 2], [16, 2], [16, 1]], "transitions": [16, 24],
                      "exits": [1, 2, 3, 4, 5]}


class TestParityDenseNet(test_parity.TestParity):
    CONFIG = DENSE_SMALL_CONFIG

    def test_graph_is_densenet(self):
        # Every bconv2d reads the running feature map and is concatenated onto it; the map's
        # width grows by the growth rate per layer and shrinks only in the transitions
        # (maxpool2d -> depthwise affine + relu -> conv2d 1x1).
        from beenet_train.evaluate import nodes_from_gguf
        from beenet_train.model import graph_shapes_and_ops
        nodes = nodes_from_gguf(self.out)
        shapes, _ = graph_shapes_and_ops(nodes)
        widths = []
        for i, n in enumerate(nodes):
            if n["op"] == "bconv2d":
                cat = nodes[i + 1]
                self.assertEqual((cat["op"], cat["inputs"]), ("concat", [n["inputs"][0], i + 1]))
                widths.append(shapes[i + 2][2])
            if n["op"] == "maxpool2d" and i > 1:
                aff, conv = nodes[i + 1], nodes[i + 2]
                self.assertEqual((aff["op"], aff["kernel"], aff["groups"], aff["activation"]),
                                 ("conv2d", [1, 1], shapes[i + 1][2], "relu"))
                self.assertEqual((conv["op"], conv["kernel"], conv["groups"], conv["activation"]),
                                 ("conv2d", [1, 1], 1, "none"))
        self.assertEqual(widths, [16, 24, 32, 48, 40])


if __name__ == "__main__":
    unittest.main(verbosity=2)
