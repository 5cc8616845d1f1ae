# A stand-in for cnilab/responder.py in the operation cases (only its hash matters).
