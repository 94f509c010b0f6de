"""Faces: from an RGB photo to face boxes, aligned chips, their sharpness and 128-d descriptors.

``files`` finds dlib and the model files of ``face-recognition-models`` and loads dlib's objects once per process.
``detect`` finds the boxes (dlib's HOG, or its CNN detector as ported in ``mmod/``), ``encode`` aligns each face and
computes its descriptor with dlib's ResNet (ported in ``resnet``), ``quality`` judges a chip's sharpness, and
``preload`` loads the models ahead of the first photo (a worker's, or the device stage's on a GPU). ``dlibfile``
reads dlib's model files for both ports. Each port gives dlib's own results (the tests compare them), in ONNX
Runtime on a CPU or torch elsewhere, and dlib's own implementation stands in where a port cannot load.
"""
