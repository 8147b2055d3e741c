# Per run: train → predict → evaluate; and the frozen backbone alone per dataset (single-frame baseline).


rule train:
    input:
        deps("train", "run"),
    output:
        directory("models/{run}"),
    log:
        "logs/train/{run}.log",
    benchmark:
        "results/benchmarks/train/{run}.tsv"
    threads: JOB_THREADS
    resources:
        torch_threads=TORCH_THREADS,
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet train --run {wildcards.run:q} --threads {resources.torch_threads} > {log:q} 2>&1"


rule predict:
    input:
        deps("predict", "run"),
    output:
        directory("results/predictions/{run}"),
    log:
        "logs/predict/{run}.log",
    benchmark:
        "results/benchmarks/predict/{run}.tsv"
    params:
        splits=lambda wildcards: "val test" if GROUP[wildcards.run] == "main" else "val",
    threads: JOB_THREADS
    resources:
        torch_threads=TORCH_THREADS,
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet predict --run {wildcards.run:q} --split {params.splits} "
        "--threads {resources.torch_threads} > {log:q} 2>&1"


rule evaluate:
    input:
        deps("evaluate", "run"),
    output:
        "results/metrics/{run}.json",
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "results/benchmarks/evaluate/{run}.tsv"
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet evaluate --run {wildcards.run:q} > {log:q} 2>&1"


rule predict_backbone:
    input:
        deps("predict_backbone", "dataset"),
    output:
        directory("results/predictions/backbone_{dataset}"),
    log:
        "logs/predict/backbone_{dataset}.log",
    benchmark:
        "results/benchmarks/predict_backbone/{dataset}.tsv"
    threads: JOB_THREADS
    resources:
        torch_threads=TORCH_THREADS,
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet predict --backbone-only --dataset {wildcards.dataset:q} --split val "
        "--threads {resources.torch_threads} > {log:q} 2>&1"


rule evaluate_backbone:
    input:
        deps("evaluate_backbone", "dataset"),
    output:
        "results/metrics/backbone_{dataset}.json",
    log:
        "logs/evaluate/backbone_{dataset}.log",
    benchmark:
        "results/benchmarks/evaluate_backbone/{dataset}.tsv"
    conda:
        "../envs/fasrnet.yaml"
    shell:
        "fasrnet evaluate --backbone-only --dataset {wildcards.dataset:q} > {log:q} 2>&1"
