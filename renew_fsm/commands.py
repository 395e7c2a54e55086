"""The old name of ``renew_fsm.eventdata`` (what it does: check event data at the boundary), kept
so that code importing ``renew_fsm.commands`` goes on working."""

from .eventdata import *  # noqa: F403
