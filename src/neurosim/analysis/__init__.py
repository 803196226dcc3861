"""Analysis of simulated populations and sweeps.

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
"""
