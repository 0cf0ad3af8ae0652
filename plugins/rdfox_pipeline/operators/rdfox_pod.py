"""The RDFox pod as an Airflow task: the provider's pod operator, with the pod built at run time.

``RdfoxPodOperator`` is the Amazon provider's ``EksPodOperator`` (itself a cncf-kubernetes
``KubernetesPodOperator``), deferrable. It picks its route when it runs, from the CLUSTER_NAME setting:

* CLUSTER_NAME set: the EKS route. The kubeconfig is generated from the cluster's description with the
  credentials of ``aws_conn_id`` (on MWAA: the environment's execution role, which needs
  ``eks:DescribeCluster`` and an access entry / aws-auth mapping in the cluster); the triggerer
  regenerates it, so long waits outlive the 15-minute EKS token.
* CLUSTER_NAME unset: the plain Kubernetes route through ``kubernetes_conn_id`` (``kubernetes_default``:
  a kubeconfig path or in-cluster; the local stack points it at the Kubernetes emulator).

The pod itself comes from ``build_pod_manifest(jobspec, job_id, settings)``. Job record: SCHEDULED (with the
pod name) once the pod exists, the worker's instance type when known, INFERENCE_FAILED with the reason when
the pod fails (a failed step, OOM kill, image pull error, scheduling timeout), and only then: an error
before the pod exists or around a pod that did not fail leaves the status for the task's retry. A pod still
Pending when the task ends is deleted (it would never start); the init containers' logs reach the task log
(docs/pod.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.eks import EksPodOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import OnFinishAction, PodPhase

from rdfox_pipeline.compat import AirflowFailException
from rdfox_pipeline.links import JobOutputsLink, RdfoxLogLink, RdfoxPodLink
from rdfox_pipeline.operators.pod_takeover import EarlierPodSucceeded

if TYPE_CHECKING:
    from airflow.sdk import Context
    from kubernetes.client import models as k8s

    from rdfox_pipeline.domain.settings import Settings

# Node labels that name the machine type (current, then the deprecated beta label).
_INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
_WAITING_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff"}
)
_MAX_REASON = 1000
# The trigger events after which the provider writes the base container's logs (and so we the init ones').
_FINAL_EVENTS = frozenset({"error", "failed", "timeout", "success"})
MAX_REASONING_SECONDS = 7 * 24 * 3600  # without an execution_timeout: a week, then the pod is given up


class EndpointCapRefused(AirflowFailException):
    """The job keeps its endpoint and RDFOX_MAX_ENDPOINTS are alive: refused before its pod starts."""


class PodStartRefused(AirflowFailException):
    """The operator's settings refuse the pod (a setting, an image's registry): refused before it starts."""


def describe_pod_failure(pod: k8s.V1Pod | None, fallback: str) -> str:
    """One line saying why the pod failed: the first failed container, else the pod's own reason."""
    failure = _container_or_scheduling_failure(pod)
    if failure:
        return failure
    status = getattr(pod, "status", None)
    if status is not None and (status.reason or status.message):
        return f"pod {status.phase or 'failed'}: {status.reason or ''} {status.message or ''}".strip()
    return fallback


def pod_has_failed(pod: k8s.V1Pod | None) -> bool:
    """The pod itself failed (RDFox's, a step's or the pod's own failure), as opposed to the task around it.

    Failed phase, a container that exited non-zero or can never start, or a pod that cannot be scheduled.
    No pod (the error came before it existed), or a Running or Succeeded one: not the pod's failure.
    """
    phase = getattr(getattr(pod, "status", None), "phase", None)
    return phase == PodPhase.FAILED or _container_or_scheduling_failure(pod) is not None


def _container_or_scheduling_failure(pod: k8s.V1Pod | None) -> str | None:
    status = getattr(pod, "status", None)
    if status is not None:
        for statuses in (status.init_container_statuses or [], status.container_statuses or []):
            for cs in statuses:
                state = cs.state
                term = state.terminated if state else None
                if term is not None and term.exit_code not in (0, None):
                    reason = f" ({term.reason})" if term.reason else ""
                    # A log tail (FallbackToLogsOnError) ends with the error: keep its last line.
                    last = (term.message or "").strip().splitlines()[-1:]
                    message = f": {last[0].strip()}" if last else ""
                    return f"container {cs.name} exited with status {term.exit_code}{reason}{message}"
                waiting = state.waiting if state else None
                if waiting is not None and waiting.reason in _WAITING_FAILURES:
                    message = f": {waiting.message.strip()}" if waiting.message else ""
                    return f"container {cs.name} could not start ({waiting.reason}{message})"
        for condition in status.conditions or []:
            # Never scheduled (no node fits the requests, a missing node group, ...): the scheduler says why.
            if condition.type == "PodScheduled" and condition.status == "False":
                detail = f": {condition.message.strip()}" if condition.message else ""
                return f"pod could not be scheduled ({condition.reason or 'Unschedulable'}{detail})"
    return None


def _init_containers_that_ran(pod: k8s.V1Pod, requested: Any) -> list[str]:
    """Names of the requested init containers (True = all, a name, or names) that started, in spec order."""
    spec = getattr(getattr(pod, "spec", None), "init_containers", None) or []
    names = [c.name for c in spec]
    if requested is not True:
        wanted = {requested} if isinstance(requested, str) else set(requested or ())
        names = [n for n in names if n in wanted]
    statuses = getattr(getattr(pod, "status", None), "init_container_statuses", None) or []
    ran = {cs.name for cs in statuses if cs.state and (cs.state.running or cs.state.terminated)}
    return [n for n in names if n in ran]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_REASON]


class RdfoxPodOperator(EksPodOperator):
    """Run the job's RDFox pod (prepare -> rdfox -> publish); see the module docstring for the routes.

    :param registration: ``register_job``'s XCom (templated; pass ``register_job.output``).
    :param aws_conn_id: AWS connection: job records, settings, and the EKS route's credentials.
    :param kubernetes_conn_id: Kubernetes connection of the plain route.
    """

    template_fields = (*EksPodOperator.template_fields, "registration")
    ui_color = "#d6f5e3"
    operator_extra_links = (JobOutputsLink(), RdfoxLogLink(), RdfoxPodLink())

    def __init__(
        self,
        *,
        registration: Any,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("deferrable", True)
        kwargs.setdefault("get_logs", True)
        kwargs.setdefault("do_xcom_push", False)
        # Failed pods are kept for diagnosis; succeeded ones are deleted (their outputs are in S3), and so
        # are pods still Pending when the task ends (process_pod_deletion).
        kwargs.setdefault("on_finish_action", "delete_succeeded_pod")
        # prepare's and rdfox's own output: a failed prepare publishes nothing, its log is the diagnosis.
        kwargs.setdefault("init_container_logs", True)
        # A retry reattaches to the job's pod instead of starting a second one: the provider's default on
        # every Airflow we support, under a name that differs by version (rdfox_pipeline.compat).
        super().__init__(cluster_name="", aws_conn_id=aws_conn_id, **kwargs)
        self.registration = registration
        self._settings: Settings | None = None
        self._deleted_pending_pod: str | None = None
        self._eks_defer_timeout: timedelta | None = None

    # -- what to run ---------------------------------------------------------------------------------------

    @property
    def job_id(self) -> str:
        return str(self.registration["job_id"])

    def _job_settings(self) -> Settings:
        if self._settings is None:
            from rdfox_pipeline.aws.settings_loader import load_settings
            from rdfox_pipeline.domain.jobspec import parse_jobspec
            from rdfox_pipeline.domain.settings import SettingsError

            spec = parse_jobspec(self.registration["jobspec"])
            try:
                self._settings = load_settings(spec.setting_overrides(), aws_conn_id=self.aws_conn_id)
            except SettingsError as exc:
                # A setting the operator got wrong (an image outside the allow-list, a bad value) does not
                # mend itself between retries: refused before any pod, recorded as such. A job whose pod
                # exists fails as before and its retry, once the settings are mended, takes the pod up.
                if (self._bookkeeping_hook().get_job(self.job_id) or {}).get("pod_name"):
                    raise
                raise PodStartRefused(str(exc)) from None
        return self._settings

    def build_pod_request_obj(self, context: Context | None = None, *, dry_run: bool = False) -> k8s.V1Pod:
        from rdfox_pipeline.domain.jobspec import parse_jobspec
        from rdfox_pipeline.pod.manifest import build_pod_manifest

        spec = parse_jobspec(self.registration["jobspec"])
        manifest = build_pod_manifest(spec, self.job_id, self._job_settings())
        # The manifest is the pod; the operator adds only its identifying labels (used to reattach on retry).
        self.pod_template_dict = manifest
        self.namespace = manifest["metadata"]["namespace"]
        self.name = manifest["metadata"]["name"]
        # The provider counts "startup" until the pod leaves Pending -- and a pod stays Pending while its
        # init containers run, i.e. during the whole reasoning. So the setting bounds *scheduling* only
        # (image pull errors end the wait at once anyway); the reasoning is bounded by execution_timeout.
        self.schedule_timeout_seconds = self._job_settings().pod_startup_timeout_seconds
        self.startup_timeout_seconds = self._reasoning_timeout_seconds()
        return super().build_pod_request_obj(context, dry_run=dry_run)

    def _reasoning_timeout_seconds(self) -> int:
        if self.execution_timeout is not None:
            return max(1, int(self.execution_timeout.total_seconds()))
        return MAX_REASONING_SECONDS

    # -- routes --------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not isinstance(self.registration, Mapping) or "job_id" not in self.registration:
            raise ValueError("registration: expected register_job's XCom with job_id and jobspec")
        self._refuse_rerun_after_reasoning_ended(context)
        try:
            self.cluster_name = self._job_settings().cluster_name or ""
            if self.cluster_name:
                self.log.info("EKS route: cluster %s", self.cluster_name)
                # EksPodOperator.trigger_reentry finds the cluster in the trigger's event.
                self.trigger_kwargs = {**(self.trigger_kwargs or {}), "eks_cluster_name": self.cluster_name}
                return super().execute(context)  # EksPodOperator.execute: kubeconfig from EKS
            self.log.info("Kubernetes route: connection %s", self.kubernetes_conn_id)
            return KubernetesPodOperator.execute(self, context)
        except EarlierPodSucceeded as done:
            self.log.info("Job %s: pod %s succeeded already; RDFox not run again", self.job_id, done.pod_name)
            return None
        except Exception as exc:
            self._record_failure(exc)
            raise

    def _refuse_rerun_after_reasoning_ended(self, context: Context) -> None:
        """A retry may only reattach to the job's pod, never start RDFox again once the reasoning has ended.

        Retries exist for Airflow failing a deferred task that resumed before the scheduler saw its worker
        exit (apache/airflow#72716): the pod is still there and the retry reattaches to it. After a real
        failure the job is INFERENCE_FAILED (or later) and the retry fails at once.
        """
        if int(getattr(context["ti"], "try_number", 1) or 1) <= 1:
            return
        status = (self._hook().get_job(self.job_id) or {}).get("job_status")
        if status not in (None, "CREATED", "SCHEDULED"):
            from rdfox_pipeline.compat import AirflowFailException

            raise AirflowFailException(f"job {self.job_id} is {status}: a retry does not run RDFox again")

    def invoke_defer_method(self, last_log_time: Any = None, context: Context | None = None) -> None:
        if self.cluster_name:
            self._set_eks_deadline(context)
            return super().invoke_defer_method(last_log_time=last_log_time, context=context)
        return KubernetesPodOperator.invoke_defer_method(self, last_log_time=last_log_time, context=context)

    def _set_eks_deadline(self, context: Context | None) -> None:
        """The plain route's execution deadline (the provider sets it there only) for the EKS trigger."""
        from rdfox_pipeline.operators.pod_deadline import DEADLINE_KWARG, defer_timeout, execution_deadline

        kwargs = {k: v for k, v in (self.trigger_kwargs or {}).items() if k != DEADLINE_KWARG}
        start = getattr(context["ti"], "start_date", None) if context is not None else None
        deadline = execution_deadline(start, self.execution_timeout)
        if deadline is not None:
            kwargs[DEADLINE_KWARG] = deadline
            self._eks_defer_timeout = defer_timeout(deadline, self.poll_interval)
        self.trigger_kwargs = kwargs

    def defer(self, *, trigger: Any, method_name: str, kwargs: Any = None, timeout: Any = None) -> Any:
        # Both routes' provider triggers, with the init container watch (triggers/rdfox_pod.py).
        from rdfox_pipeline.triggers.rdfox_pod import with_init_container_watch
        from rdfox_pipeline.triggers.resume_floor import resume_not_before

        if timeout is None and self.cluster_name:
            timeout = self._eks_defer_timeout  # the provider's EKS route passes none
        return super().defer(
            trigger=with_init_container_watch(trigger, resume_not_before()),
            method_name=method_name,
            kwargs=kwargs,
            timeout=timeout,
        )

    def trigger_reentry(self, context: Context, event: dict[str, Any]) -> Any:
        # On resume Airflow builds a fresh operator, which never ran execute(): the route is the event's
        # (EksPodOperator puts the cluster in its trigger kwargs), so that a re-deferral stays on EKS.
        self.cluster_name = str(event.get("eks_cluster_name") or "")
        if self.cluster_name:
            self.trigger_kwargs = {**(self.trigger_kwargs or {}), "eks_cluster_name": self.cluster_name}
        try:
            if not self.cluster_name:
                return self._finish(context, event)
            # As EksPodOperator.trigger_reentry does, but the follow-ups (node type, endpoint pod) need the
            # cluster's credentials too, so they run inside the same kubeconfig context.
            from airflow.providers.amazon.aws.hooks.eks import EksHook

            eks_hook = EksHook(aws_conn_id=self.aws_conn_id, region_name=self.region)
            with eks_hook.generate_config_file_with_credentials(
                eks_cluster_name=event["eks_cluster_name"], pod_namespace=event["namespace"]
            ) as (self.config_file, self._credentials_file_path):
                return self._finish(context, event)
        except Exception as exc:
            self._record_failure(exc)
            raise

    def _finish(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") in _FINAL_EVENTS:
            self._write_init_container_logs(event)
        try:
            result = KubernetesPodOperator.trigger_reentry(self, context, event)
        except Exception as exc:
            if event.get("status") != "timeout":
                raise
            # The provider's cleanup replaces the trigger's reason (the execution deadline, a pod that could
            # not start) with "Pod ... returned a failure" and the whole pod spec: keep the reason.
            from rdfox_pipeline.compat import AirflowException

            raise AirflowException(str(event.get("message") or "the pod wait timed out")) from exc
        # Only reached when the pod succeeded (a failed pod raised above). From here on nothing may fail
        # the task: its retry would only take up the succeeded pod again.
        try:
            self._record_node_type()
        except Exception as exc:  # informative field: the job keeps SCHEDULED, parse_rdfox_log goes on
            self.log.warning("Job %s: could not record the worker node type: %s", self.job_id, exc)
        self._start_endpoint_if_asked()
        return result

    def _write_init_container_logs(self, event: dict[str, Any]) -> None:
        """The requested init containers' logs, as the provider's synchronous route streams them.

        The provider honours ``init_container_logs`` only when it runs synchronously; a deferred task comes
        back here and would log the base container alone. Only containers that ran have a log to read.
        """
        if not self.init_container_logs:
            return
        try:
            pod = self.hook.get_pod(event["name"], event["namespace"])
            for name in _init_containers_that_ran(pod, self.init_container_logs):
                self.pod_manager.fetch_container_logs(pod=pod, container_name=name, follow=False)
        except Exception as exc:  # the logs are diagnosis: never let reading them hide the pod's outcome
            self.log.warning("Could not read the init container logs of pod %s: %s", event.get("name"), exc)

    # -- a pod that would wait forever ---------------------------------------------------------------------

    def process_pod_deletion(self, pod: k8s.V1Pod, *, reraise: bool = True) -> bool:
        """The provider's rule, plus: a pod still Pending when the task ends is deleted.

        Pending at this point means it could not be scheduled, or a container never started (image pull
        error, missing secret) and the wait timed out: nothing will ever watch it again, and a pod bound to
        a node keeps that node's requests reserved. Failed pods stay (their containers hold nothing).
        """
        if pod is None or self.on_finish_action == OnFinishAction.KEEP_POD:
            return super().process_pod_deletion(pod, reraise=reraise)
        try:  # the caller's copy may be stale (the synchronous route reads it once, at creation)
            current = self.pod_manager.read_pod(pod)
        except Exception:
            current = pod
        phase = getattr(current.status, "phase", None)
        if phase == PodPhase.SUCCEEDED and not self._record_pod_succeeded(current):
            return False
        if phase != PodPhase.PENDING:
            return super().process_pod_deletion(current, reraise=reraise)
        self.log.warning(
            "Deleting pod %s: still Pending as the task ends (%s)",
            pod.metadata.name,
            describe_pod_failure(current, fallback="no container started"),
        )
        try:
            self.pod_manager.delete_pod(current)
        except Exception:
            if reraise:
                raise
            self.log.exception("Could not delete pod %s", pod.metadata.name)
            return False
        self._deleted_pending_pod = pod.metadata.name
        return True

    # -- the kept-up endpoint ------------------------------------------------------------------------------

    def _start_endpoint_if_asked(self) -> None:
        """jobspec rdfox.keep_endpoint: start the endpoint pod and return (it holds no worker slot).

        Best effort: the job's results are already published, so a failure here is logged, not raised.
        Its own Secret (random role/password) and NetworkPolicy come with it (pod/endpoint_lifecycle.py).
        """
        from kubernetes.client import NetworkingV1Api

        from rdfox_pipeline.domain.jobspec import parse_jobspec
        from rdfox_pipeline.pod.endpoint import build_endpoint_manifest
        from rdfox_pipeline.pod.endpoint_lifecycle import start_endpoint

        spec = parse_jobspec(self.registration["jobspec"])
        if not spec.rdfox.keep_endpoint:
            return
        try:
            settings = self._job_settings()
            manifest = build_endpoint_manifest(spec, self.job_id, settings, now=datetime.now(tz=UTC))
            networking = NetworkingV1Api(self.client.api_client)
            started = start_endpoint(self.client, networking, manifest, settings)
        except Exception as exc:
            self.log.warning("Could not start the RDFox endpoint of job %s: %s", self.job_id, exc)
            try:  # the notification says why no endpoint is up
                self._hook().record_status(
                    self.job_id, "SCHEDULED", rdfox_endpoint_not_kept=_one_line(str(exc))[:500]
                )
            except Exception as record_exc:
                self.log.warning("Could not record it for job %s: %s", self.job_id, record_exc)
            return
        self.log.info(
            "RDFox endpoint pod %s/%s started for job %s; it ends at %s. Connect with `kubectl port-forward "
            "-n %s pod/%s %s`; its password: `%s`; end it earlier with `rdfox-pipeline endpoint delete %s`.",
            started.namespace, started.name, self.job_id, started.expires_at,
            started.namespace, started.name, spec.rdfox.port, started.password_command(), self.job_id,
        )  # fmt: skip
        try:
            self._hook().record_status(
                self.job_id,
                "SCHEDULED",
                rdfox_endpoint_pod=started.name,
                rdfox_endpoint_expires_at=started.expires_at,
            )
        except Exception as exc:
            self.log.warning("Could not record the endpoint pod of job %s: %s", self.job_id, exc)

    # -- job record ----------------------------------------------------------------------------------------

    def _hook(self) -> Any:
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        try:
            settings = self._job_settings()
        except PodStartRefused:  # the refusal is still recorded: the table's name does not depend on images
            return self._bookkeeping_hook()
        return JobMetadataHook(
            aws_conn_id=self.aws_conn_id,
            table_name=settings.job_table_name,
            delimiter=settings.job_id_delimeter,
        )

    def _bookkeeping_hook(self) -> Any:
        """The job table's hook from settings resolved without the images' allow-list check."""
        from rdfox_pipeline.aws.settings_loader import load_settings
        from rdfox_pipeline.domain.jobspec import parse_jobspec
        from rdfox_pipeline.hooks.job_metadata import JobMetadataHook

        overrides = parse_jobspec(self.registration["jobspec"]).setting_overrides()
        settings = load_settings(overrides, aws_conn_id=self.aws_conn_id, check_images=False)
        return JobMetadataHook(
            aws_conn_id=self.aws_conn_id,
            table_name=settings.job_table_name,
            delimiter=settings.job_id_delimeter,
        )

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Context) -> k8s.V1Pod:
        """The job's earlier pod if there is one (any try, any phase), else a new one (pod_takeover.py).

        The provider's own reattach would delete a finished pod and start RDFox again.
        """
        from rdfox_pipeline.operators.pod_takeover import job_pod_selector, pick_earlier_pod

        namespace = pod_request_obj.metadata.namespace
        selector = job_pod_selector(pod_request_obj.metadata.labels or {})
        pod = pick_earlier_pod(self.client.list_namespaced_pod(namespace, label_selector=selector).items)
        if pod is not None:
            self.log.info(
                "Job %s already has pod %s (%s): taking it up instead of starting another",
                self.job_id, pod.metadata.name, getattr(pod.status, "phase", None),
            )  # fmt: skip
        else:
            self._take_up_outcome_without_pod()
            self._refuse_pod_start()  # a pod already running is taken up as it is
            self._refuse_endpoint_over_cap(namespace)  # only a new pod is counted against the cap
            pod = super().get_or_create_pod(pod_request_obj, context)
        self._hook().record_status(self.job_id, "SCHEDULED", pod_name=pod.metadata.name)
        return pod

    def _take_up_outcome_without_pod(self) -> None:
        """No pod of the job exists: raise if the record and the published log say how it ended."""
        from rdfox_pipeline.compat import AirflowException, AirflowFailException
        from rdfox_pipeline.operators.pod_takeover import outcome_without_pod

        record = self._hook().get_job(self.job_id)
        try:
            outcome = outcome_without_pod(
                record, str(self.registration.get("rdfox_log_uri") or ""), self._read_published_log
            )
        except ValueError as err:
            raise AirflowFailException(f"job {self.job_id}: {err}") from None
        if outcome is None:
            return
        if not outcome.succeeded:
            self._earlier_pod_failed = True  # RDFox's own failure, though its pod is gone: INFERENCE_FAILED
            raise AirflowException(outcome.reason)
        if not (record or {}).get("rdfox_endpoint_pod"):
            self._start_endpoint_if_asked()  # the earlier try may have been lost before starting it
        raise EarlierPodSucceeded(outcome.pod_name)

    def _read_published_log(self, uri: str) -> str | None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        if not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[len("s3://") :].partition("/")
        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        return hook.read_key(key, bucket) if hook.check_for_key(key, bucket) else None

    def _record_pod_succeeded(self, pod: k8s.V1Pod) -> bool:
        """Write ``pod_succeeded`` before a succeeded pod is deleted: a later try's only evidence of it."""
        try:
            self._hook().record_status(self.job_id, "SCHEDULED", pod_succeeded=pod.metadata.name)
        except Exception as exc:
            self.log.warning("Keeping pod %s: could not record its success (%s)", pod.metadata.name, exc)
            return False
        return True

    def _refuse_pod_start(self) -> None:
        """The operator's settings as they are now allow a pod (jobspec_policy.check_pod_start).

        register_job checked them when the run started; the pod is created later (a queued run, a retry).
        The images themselves were checked against the allow-list when the settings were resolved.
        """
        from rdfox_pipeline.domain.jobspec_policy import check_pod_start
        from rdfox_pipeline.domain.settings import SettingsError

        try:
            check_pod_start(self._job_settings())
        except SettingsError as exc:
            raise PodStartRefused(str(exc)) from None

    def _refuse_endpoint_over_cap(self, namespace: str) -> None:
        """A job that keeps its endpoint does not start while RDFOX_MAX_ENDPOINTS endpoints are alive.

        Checked before the pod exists, so nothing runs for hours only to be refused its endpoint; a retry
        whose job already has a pod (it reattaches) was checked when that pod started.
        """
        from rdfox_pipeline.domain.jobspec import kept_only_by_old_default, parse_jobspec
        from rdfox_pipeline.pod.endpoint_lifecycle import EndpointCapReached, check_endpoint_cap

        if not parse_jobspec(self.registration["jobspec"]).rdfox.keep_endpoint:
            return
        if (self._hook().get_job(self.job_id) or {}).get("pod_name"):
            return
        try:
            check_endpoint_cap(self.client, namespace, self._job_settings())
        except EndpointCapReached as exc:
            if kept_only_by_old_default(self.registration.get("jobspec_notes") or ()):
                # The old jobspec did not ask for an endpoint, it only left auto_shutdown out: its job runs
                # as it always did, and the endpoint step says why none is kept.
                self.log.warning("Job %s: %s; the job runs, its endpoint will not be kept", self.job_id, exc)
                return
            raise EndpointCapRefused(str(exc)) from None

    def _node_type(self) -> str | None:
        node_name = getattr(getattr(self.pod, "spec", None), "node_name", None)
        if not node_name:
            return None
        try:
            labels = self.client.read_node(node_name).metadata.labels or {}
        except Exception as exc:  # RBAC may not allow reading nodes: the type is a nice-to-have
            self.log.info("Cannot read node %s (%s); worker node type not recorded", node_name, exc)
            return node_name
        return next((labels[k] for k in _INSTANCE_TYPE_LABELS if k in labels), node_name)

    def _record_node_type(self) -> None:
        node_type = self._node_type()
        if node_type:
            self._hook().record_status(self.job_id, "SCHEDULED", worker_node_type=node_type)

    def _pod_failed(self) -> bool:
        """Whether the pod failed (INFERENCE_FAILED), from the pod as it is now where it can be read."""
        if self._deleted_pending_pod or getattr(self, "_earlier_pod_failed", False):
            # It could never start (image pull error, unschedulable) and was given up, or an earlier try's
            # pod is gone and its published rdfox.log says RDFox failed.
            return True
        if self.pod is None:
            return False
        try:
            return pod_has_failed(self.pod_manager.read_pod(self.pod))
        except Exception:  # unreadable (deleted, API down): the copy the task last saw
            return pod_has_failed(self.pod)

    def _record_failure(self, exc: BaseException) -> None:
        """INFERENCE_FAILED with the pod's reason and, when the log was published, the log's own diagnosis.

        Only when the pod failed. An error before the pod exists (SSM, EKS, the Kubernetes API or a quota
        refusing it) or around a pod that runs or succeeded (a job record write, a lost watch) is not RDFox's
        failure: the job keeps its status, the task fails and its retry reattaches to the pod or creates it.
        """
        if isinstance(exc, EndpointCapRefused | PodStartRefused):  # refused before any pod: nothing was tried
            try:
                self._hook().record_status(self.job_id, "SCHEDULE_FAILED", error_reason=_one_line(str(exc)))
            except Exception:
                self.log.exception("Could not record SCHEDULE_FAILED for job %s", self.job_id)
            return
        if not self._pod_failed():
            self.log.warning(
                "Job %s: %s: %s; the pod did not fail, so the job is not INFERENCE_FAILED (a retry goes on)",
                self.job_id, type(exc).__name__, exc,
            )  # fmt: skip
            return
        try:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = describe_pod_failure(self.pod, fallback=first_line)
            # A pod deleted while Pending never ran publish: there is no rdfox.log to look for.
            diagnosis, log_uri = (None, None) if self._deleted_pending_pod else self._log_diagnosis()
            if diagnosis:
                reason = f"{reason}; rdfox.log: {diagnosis}"
            if self._deleted_pending_pod:
                reason = (
                    f"{reason}; pod {self._deleted_pending_pod} deleted: still Pending when the task ended"
                )
            self._hook().record_status(
                self.job_id,
                "INFERENCE_FAILED",
                error_reason=_one_line(reason),
                worker_node_type=self._node_type(),
                rdfox_log_uri=log_uri,
            )
        except Exception:  # never hide the pod's own failure behind a bookkeeping one
            self.log.exception("Could not record INFERENCE_FAILED for job %s", self.job_id)

    def _log_diagnosis(self) -> tuple[str | None, str | None]:
        """What the published rdfox.log says went wrong (publish uploads it even when RDFox fails)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from rdfox_pipeline.aws.s3_bounded import ObjectTooLarge, read_at_most
        from rdfox_pipeline.domain.rdfox_log import RdfoxLogError, parse_rdfox_log
        from rdfox_pipeline.sensors.rdfox_log import MAX_LOG_BYTES

        uri = str(self.registration.get("rdfox_log_uri") or "")
        if not uri.startswith("s3://"):
            return None, None
        bucket, _, key = uri[len("s3://") :].partition("/")
        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        if not hook.check_for_key(key, bucket):
            # "rdfox.log missing" is itself the diagnosis (RDFox wrote none, or publish could not upload it).
            return f"missing: the pod published no {uri}", None
        try:
            raw = read_at_most(hook.get_conn(), bucket, key, MAX_LOG_BYTES)
        except ObjectTooLarge as exc:
            return str(exc), uri
        try:
            parse_rdfox_log(raw.decode("utf-8", errors="replace"))
        except RdfoxLogError as err:
            return str(err), uri
        return None, uri
