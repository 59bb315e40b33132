//! pxelab's deterministic simulator (arrives with the simulator issue).
