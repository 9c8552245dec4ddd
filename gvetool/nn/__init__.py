"""What models are built from: LSTM layers, the output layer and its loss, decoding and
sampling, GVE's reward and REINFORCE options, and the policy of which implementation of
the same maths runs on which device.

The built-in models (:mod:`gvetool.builtins.models`) and plugin models use these; the
engine asks :mod:`gvetool.nn.execution` how a device runs them.
"""
