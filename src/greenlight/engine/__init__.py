"""The request lifecycle and the work that moves requests through it."""

from greenlight.engine.lifecycle import FINAL_STATES, TRANSITIONS, Move, Step, allowed_steps, move

__all__ = ["FINAL_STATES", "TRANSITIONS", "Move", "Step", "allowed_steps", "move"]
