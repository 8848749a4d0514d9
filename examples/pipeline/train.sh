#!/bin/sh
# train.sh CSV - "train" a model on a downloaded file: the mean of the
# value column, written to models/<name>.model. Prints its result as JSON.
set -eu
csv=$1
mkdir -p models
name=$(basename "$csv" .csv)
mean=$(awk -F, 'NR > 1 { s += $3; n++ } END { printf "%.3f", (n ? s / n : 0) }' "$csv")
echo "mean=$mean" > "models/$name.model"
echo "trained on $csv: mean $mean" >&2
printf '{"model":"models/%s.model","mean":%s}\n' "$name" "$mean"
