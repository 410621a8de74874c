"""contest: payout tables (payouts), projected ownership and the field (field), the contest over
the simulated races and lineup selection (simulate), and a contest on an optimize run (run)."""
