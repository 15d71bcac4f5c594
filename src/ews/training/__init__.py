"""Training one run (Algorithm 1): the builders, the epoch loop and the `Trainer`, its exact-resume
state, the divergence guard, provenance and the export of a trained model."""
