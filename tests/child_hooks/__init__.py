"""Code the tests load into the processes they start (see coinlstm_faults)."""
