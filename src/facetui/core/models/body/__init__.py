"""Bodies: OSNet person re-identification, the fallback when a photo's face is not enough.

``crops`` cuts the person region below each face and sizes it for the network (numpy and Pillow only). ``osnet``
loads the network's code from the installed torchreid and the user's weights file safely, and names the run's
model (:class:`~.osnet.BodySpec`). ``encoder`` embeds crops with it in torch; ``onnxform`` is the same network
exported to ONNX Runtime for the CPU. ``setup`` decides whether and where a run embeds bodies: the weights file
checked once per machine, the device, and the encoder each process loads lazily.
"""
