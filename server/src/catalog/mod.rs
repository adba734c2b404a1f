//! The exposed tool catalog: `<server>__<tool>` names and synthesized broadcast tools.
