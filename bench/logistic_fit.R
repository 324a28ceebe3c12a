# bench/logistic_fit.R — times R's glm(family = binomial) on a CSV, for
# bench/logistic_fit.sh: the reference the `logistic` scorer is measured
# against, in speed and in its estimate.
#
#   Rscript bench/logistic_fit.R FILE.csv [RUNS]
#
# Reads FILE.csv (not timed; text columns become factors, whose first
# level in sorted order is the reference, as in Kizuna), then fits
# churn ~ every other column, RUNS times (default 3), timing only the
# glm() call with system.time(); the best elapsed time is reported.
# Prints:
#
#   seconds 1.234             the best run
#   runs 1.3 1.2 ...          every run
#   accounts N
#   iterations K
#   deviance D
#   coef NAME ESTIMATE        per coefficient, 15 significant digits
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1 || length(args) > 2) {
  stop("usage: Rscript logistic_fit.R FILE.csv [RUNS]")
}
runs <- if (length(args) == 2) as.integer(args[2]) else 3L
if (is.na(runs) || runs < 1) stop("RUNS must be a number of at least 1")

d <- read.csv(args[1], stringsAsFactors = TRUE)
times <- numeric(runs)
for (r in seq_len(runs)) {
  times[r] <- system.time(fit <- glm(churn ~ ., data = d, family = binomial()))[["elapsed"]]
}
if (!fit$converged) stop("glm did not converge")

cat(sprintf("seconds %.6f\n", min(times)))
cat("runs", sprintf("%.6f", times), "\n")
cat(sprintf("accounts %d\n", nobs(fit)))
cat(sprintf("iterations %d\n", fit$iter))
cat(sprintf("deviance %.15g\n", deviance(fit)))
co <- coef(fit)
for (name in names(co)) cat(sprintf("coef %s %.15g\n", name, co[[name]]))
