"""What runs the networks, shared by faces and bodies: ``onnxnets`` exports a torch model to ONNX Runtime once per
machine and checks the file on a probe before trusting it, ``prepared`` keeps those files (and dlib's HOG detector)
in the machine's cache folder, and ``torchfreeze`` traces and freezes a torch model where that computes the same.
"""
