"""dlib's CNN face detector (``mmod_human_face_detector.dat``), ported so that it runs fast without dlib's CUDA.

Split at the seams of dlib's own detector: ``reader`` parses and checks the model file (nothing in it runs),
``pyramid`` builds the image pyramid the network takes (in torch; ``pyramid_numpy`` the same in numpy for ONNX
Runtime), ``boxes`` turns the network's scores into dlib's boxes, and ``detector`` holds :class:`MmodDetector`,
which runs the network between them. Each part must agree with dlib's to the pixel; the tests in
tests/integration/test_mmod_net.py check the whole against dlib's own detector.
"""
