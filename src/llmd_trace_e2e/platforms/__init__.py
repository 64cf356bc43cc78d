"""Where the suite runs: the Platform contract (base), its options, and the local and kind platforms."""
