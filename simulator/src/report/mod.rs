//! (filled in by issue 4 work in progress)
