# Data and backbone: acquire (synthesize or download) → crops, beside them backbone; then extract.


rule acquire:
    input:
        deps("acquire", "dataset"),
    output:
        directory(f"{ROOT}/{{dataset}}"),
    log:
        "logs/acquire/{dataset}.log",
    benchmark:
        "results/benchmarks/acquire/{dataset}.tsv"
    conda:
        "../envs/fasrnet.yaml"
    priority: 1  # the data chain first; complexity (Table 5 only) must not delay it
    shell:
        "fasrnet acquire --dataset {wildcards.dataset:q} > {log:q} 2>&1"


rule crops:
    input:
        deps("crops", "dataset"),
    output:
        directory("data/crops/{dataset}"),
    log:
        "logs/crops/{dataset}.log",
    benchmark:
        "results/benchmarks/crops/{dataset}.tsv"
    conda:
        "../envs/fasrnet.yaml"
    priority: 1  # the data chain first; complexity (Table 5 only) must not delay it
    shell:
        "fasrnet crops --dataset {wildcards.dataset:q} > {log:q} 2>&1"


rule backbone:
    input:
        deps("backbone"),
    output:
        directory("models/backbone"),
    log:
        "logs/backbone.log",
    benchmark:
        "results/benchmarks/backbone.tsv"
    threads: JOB_THREADS
    resources:
        torch_threads=TORCH_THREADS,
    conda:
        "../envs/fasrnet.yaml"
    priority: 1  # the data chain first; complexity (Table 5 only) must not delay it
    shell:
        "fasrnet backbone --threads {resources.torch_threads} > {log:q} 2>&1"


rule extract:
    input:
        deps("extract", "dataset"),
    output:
        directory("data/features/{dataset}"),
    log:
        "logs/extract/{dataset}.log",
    benchmark:
        "results/benchmarks/extract/{dataset}.tsv"
    threads: JOB_THREADS
    resources:
        torch_threads=TORCH_THREADS,
    conda:
        "../envs/fasrnet.yaml"
    priority: 1  # the data chain first; complexity (Table 5 only) must not delay it
    shell:
        "fasrnet extract --dataset {wildcards.dataset:q} --threads {resources.torch_threads} > {log:q} 2>&1"


rule complexity:
    input:
        deps("complexity"),
    output:
        "results/metrics/complexity.json",
    log:
        "logs/complexity.log",
    benchmark:
        "results/benchmarks/complexity.tsv"
    threads: JOB_THREADS
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet complexity --out {output:q} > {log:q} 2>&1"
