"""Analyses on top of simulations and sweeps.

Modules are imported on their own (``from neurosim.analysis.sensitivity
import run_sensitivity``); this package imports nothing at start-up.

Modules
-------
stats
    Rank statistics with seeded bootstrap confidence intervals: Spearman's
    rho and the ROC AUC (Mann-Whitney).
biomarkers
    Which baseline markers (plasma cytokines, NGF, tumour volume,
    genotypes, swept parameters) predict severe pain and response to each
    treatment arm of a sweep.
plots
    Population bands, samples of patient trajectories and waterfall plots
    of the change from baseline.
sensitivity
    Global sensitivity analysis (Sobol indices, Morris screening) through
    SALib, run by the sweep engine on any evaluator.
doseresponse
    Population dose-response, ED50 with a bootstrap interval, the
    therapeutic window and paired comparisons of drugs.
effects
    Paired effects of each arm against a control on the same patients:
    mean differences (paired t), responder-rate differences (Newcombe's
    paired interval, McNemar's exact test) and the number needed to treat.
sa_plots
    Tornado, Morris and dose-response figures.
"""
