# Tables 1-10 and the figures, from the metrics files and the literature data file.
from fasrnet.tables.report import report_category


rule tables:
    input:
        deps("tables"),
    output:
        "results/tables.md",
        # For `snakemake --report` (docs/report.md): the tables page and every figure, one caption file for all.
        report(
            directory("results/figures"),
            patterns=["{name}.html", "{name}.png"],
            caption="../report/result.rst",
            category=report_category,
        ),
        "results/summary.json",
    log:
        "logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet tables --strict > {log:q} 2>&1"
