"""Calibrating the machine as an instrument (``harness doctor``) and the GPU check (``make gpu-check``): they
use measure, the zoo and config; nothing but the CLI imports them."""
