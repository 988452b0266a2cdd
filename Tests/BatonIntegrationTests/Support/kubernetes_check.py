#!/usr/bin/env python3
"""Checks the Kubernetes manifests under a folder (deploy/kubernetes) against their schemas.

Every kustomization in the folder is rendered the way `kubectl apply -k` would for the features
Baton's use (resources: files and folders; patches: inline JSON 6902 with a kind/name target;
namespace), and every object it yields is validated:

- built-in kinds against the Kubernetes OpenAPI schemas bundled in PyPI's kubernetes-validate,
  strict (an unknown field is an error, as with `kubectl apply --validate=strict`);
- KEDA's ScaledObject against the CRD schema vendored in schemas/ (kedacore/keda), made strict
  the same way (objects accept only the properties they declare).

Also: every YAML file in the folder belongs to a kustomization or is a Helm values file (a
manifest nobody applies is never checked), a patch that matches nothing is an error, and
autoscalers and envFrom name objects that exist.

Writes a JSON summary (autoscalers and the Deployments they drive, with the settings they read
from ConfigMaps) to --summary for the Swift test to check against Baton's own names; exit status
1 and the problems on stderr when anything is wrong.

Usage: kubernetes_check.py FOLDER [--summary FILE] [--kubernetes-version 1.30]
"""
import copy
import json
import os
import sys

import jsonpatch
import jsonschema
import kubernetes_validate
import yaml

KEDA_SCHEMA = "schemas/keda.sh_scaledobject_v1alpha1.json"
KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "patches", "namespace", "images"}


class Checker:
    def __init__(self, root, version):
        self.root = os.path.abspath(root)
        self.version = version
        self.problems = []
        with open(os.path.join(self.root, KEDA_SCHEMA)) as f:
            self.keda_schema = strict(json.load(f))

    def problem(self, where, text):
        line = f"{os.path.relpath(where, self.root)}: {text}"
        if line not in self.problems:  # a file in two renderings is reported once
            self.problems.append(line)

    def render(self, folder, seen):
        """The objects `kubectl apply -k folder` would apply, and the files it read."""
        path = os.path.join(folder, "kustomization.yaml")
        with open(path) as f:
            kustomization = yaml.safe_load(f)
        seen.add(path)
        for key in set(kustomization) - KUSTOMIZE_KEYS:
            self.problem(path, f"kustomize field {key!r} is not understood by this check")
        objects = []
        for resource in kustomization.get("resources", []):
            target = os.path.normpath(os.path.join(folder, resource))
            if os.path.isdir(target):
                objects += self.render(target, seen)
            elif os.path.isfile(target):
                seen.add(target)
                with open(target) as f:
                    for document in yaml.safe_load_all(f):
                        if document is not None:
                            objects.append((target, document))
            else:
                self.problem(path, f"resource {resource!r} does not exist")
        for patch in kustomization.get("patches", []):
            target = patch.get("target", {})
            matches = [o for _, o in objects
                       if o.get("kind") == target.get("kind") and o["metadata"].get("name") == target.get("name")]
            if not matches:
                self.problem(path, f"patch target {target} matches no object")
            for document in matches:
                try:
                    patched = jsonpatch.apply_patch(document, yaml.safe_load(patch["patch"]))
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                    self.problem(path, f"patch on {target}: {error}")
                    continue
                document.clear()
                document.update(patched)
        if "namespace" in kustomization:
            for _, document in objects:
                document["metadata"]["namespace"] = kustomization["namespace"]
        # Patches apply to this kustomization's copies, not to what another one renders.
        return [(source, copy.deepcopy(document)) for source, document in objects]

    def validate(self, source, document):
        name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
        if document.get("apiVersion", "").startswith("keda.sh/"):
            validator = jsonschema.Draft7Validator(self.keda_schema)
            for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
                self.problem(source, f"{name}: {'/'.join(map(str, error.path))}: {error.message}")
            return
        try:
            kubernetes_validate.validate(document, self.version, strict=True)
        except kubernetes_validate.ValidationError as error:
            self.problem(source, f"{name}: {'/'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            self.problem(source, f"{name}: no schema ({error})")

    def references(self, folder, objects):
        """Autoscalers and envFrom point at objects of the same rendering."""
        by_kind = {}
        for _, document in objects:
            by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
        deployments = by_kind.get("Deployment", {})
        summary = {"folder": os.path.relpath(folder, self.root) or ".", "objects": len(objects),
                   "scaledObjects": [], "horizontalPodAutoscalers": []}
        for deployment in deployments.values():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef") or source.get("secretRef")
                    kind = "ConfigMap" if "configMapRef" in source else "Secret"
                    if ref["name"] not in by_kind.get(kind, {}):
                        self.problem(folder, f"Deployment/{deployment['metadata']['name']} reads {kind} {ref['name']!r}, which does not exist")
        for kind, key in [("ScaledObject", "scaledObjects"), ("HorizontalPodAutoscaler", "horizontalPodAutoscalers")]:
            for scaler in by_kind.get(kind, {}).values():
                target = scaler["spec"]["scaleTargetRef"]["name"]
                deployment = deployments.get(target)
                if deployment is None:
                    self.problem(folder, f"{kind}/{scaler['metadata']['name']} scales {target!r}, which is no Deployment here")
                    continue
                if "replicas" in deployment["spec"]:
                    self.problem(folder, f"Deployment/{target} fixes replicas while {kind}/{scaler['metadata']['name']} scales it")
                summary[key].append({"name": scaler["metadata"]["name"], "target": target, "spec": scaler["spec"],
                                     "environment": environment(deployment, by_kind)})
        return summary

    def run(self):
        seen = set()
        summaries = []
        for folder, _, files in sorted(os.walk(self.root)):
            if "kustomization.yaml" not in files:
                continue
            objects = self.render(folder, seen)
            for source, document in objects:
                self.validate(source, document)
            summaries.append(self.references(folder, objects))
        for folder, _, files in os.walk(self.root):
            for file in files:
                path = os.path.join(folder, file)
                if file.endswith((".yaml", ".yml")) and path not in seen and not file.endswith("values.yaml"):
                    self.problem(path, "no kustomization applies this file, so nothing checks it")
        return summaries


def strict(schema):
    """The schema with `additionalProperties: false` on every object that lists its properties
    and does not keep unknown fields (what the API server's strict field validation rejects)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def environment(deployment, by_kind):
    """The variables the Deployment's first container gets from ConfigMaps and `env` values."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    variables = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            variables.update(by_kind.get("ConfigMap", {}).get(source["configMapRef"]["name"], {}).get("data", {}))
    for variable in container.get("env", []):
        if "value" in variable:
            variables[variable["name"]] = variable["value"]
    return variables


def option(arguments, name, default):
    if name not in arguments:
        return default
    index = arguments.index(name)
    value = arguments[index + 1]
    del arguments[index:index + 2]
    return value


def main():
    arguments = sys.argv[1:]
    version = option(arguments, "--kubernetes-version", "1.30")
    summary = option(arguments, "--summary", None)
    checker = Checker(arguments[0], version)
    summaries = checker.run()
    for problem in checker.problems:
        print(problem, file=sys.stderr)
    if summary:
        with open(summary, "w") as f:
            json.dump({"kubernetesVersion": version, "kustomizations": summaries}, f, indent=1)
    print(f"{len(summaries)} kustomizations, {sum(s['objects'] for s in summaries)} objects, "
          f"{len(checker.problems)} problems (Kubernetes {version}, strict)")
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
