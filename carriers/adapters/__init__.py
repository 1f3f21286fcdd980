"""One module per carrier; each defines ``ADAPTER``, an instance of its ``CarrierAdapter``."""
