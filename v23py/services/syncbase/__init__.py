"""Syncbase wire declarations (v.io/v23/services/syncbase): service.vdl, types.vdl and the
generated _vdl.py (regenerate with `vdl generate v.io/v23/services/syncbase`)."""
