# Tables 1-10 and the figures, from the metrics files and the literature data file.


rule tables:
    input:
        deps("tables"),
    output:
        "results/tables.md",
        directory("results/figures"),
        "results/summary.json",
    log:
        "logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet tables --strict > {log:q} 2>&1"
