"""The form rules every scheduler shares (sitehub.hub.form), through both forms: Slurm's
(sitehub.hub.options) and HTCondor's (sitehub.htcondor.choices)."""

import pytest

from sitehub.htcondor import choices
from sitehub.hub import form, options
from sitehub.hub.form import OptionsError
from sitehub.hub.images import ImageChoice

IMAGES = {"el9": ImageChoice("el9", "/images/el9.sif", "EL 9")}


def slurm_model(allow_local=True):
    part = options.PartitionChoice(
        "debug", 60, 30, [], False, [options.AccountChoice("default", ["normal"])], "default"
    )
    return options.FormModel([part], "debug", allow_local=allow_local, images=dict(IMAGES))


def condor_model(allow_local=True):
    return choices.build_model(
        accounting_groups=["group_a"],
        max_cpus=2,
        max_memory_gb=4,
        max_runtime_minutes=60,
        images=[{"name": "el9", "ref": "/images/el9.sif", "description": "EL 9"}],
        allow_local=allow_local,
    )


FORMS = {"slurm": (options, slurm_model), "htcondor": (choices, condor_model)}


@pytest.fixture(params=sorted(FORMS))
def pair(request):
    return FORMS[request.param]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"uid": "0"}, "Unknown option(s): uid."),
        ({"run_local": "maybe"}, "'run locally' must be true or false"),
        ({"image": ["el9", "none"]}, "each option takes exactly one value"),
        ({"image": "el9\nqueue 100"}, "image must be a single line."),
        ({"image": 5}, "image must be text"),
        ({"runtime": "٣"}, "Runtime must be a whole number of minutes."),
        ({"runtime": True}, "Runtime must be a whole number of minutes."),
        ({"runtime": "9999999999"}, "Runtime must be a whole number of minutes."),
        ({"runtime": 0}, "Runtime must be at least 1 minute."),
        ({"runtime": 61}, "Runtime 61 min exceeds the maximum of 60 min"),
        ({"image": "centos7"}, "Image 'centos7' is not offered here (available: none, el9)."),
        ({"run_local": "on", "image": "el9"}, "Container images run in batch jobs only"),
    ],
)
def test_both_forms_refuse_alike(pair, raw, message):
    module, model = pair
    with pytest.raises(OptionsError) as err:
        module.validate(model(), raw)
    assert message in str(err.value)


def test_run_locally_where_offered_and_not(pair):
    module, model = pair
    for raw in ({"run_local": ["true"]}, {"run_local": True, "image": "none"}):
        assert module.validate(model(), raw) == form.Choice(run_local=True)
    with pytest.raises(OptionsError, match="Running on the hub host is not offered here"):
        module.validate(model(allow_local=False), {"run_local": True})


def test_the_chosen_image_is_its_reference(pair):
    module, model = pair
    assert module.validate(model(), {"image": "el9"}).job.image == "/images/el9.sif"
    assert module.validate(model(), {"image": "none"}).job.image == ""


def test_both_forms_render_the_shared_parts(pair):
    module, model = pair
    html = module.render_form(model(), {"image": "el9", "run_local": False, "uid": "0"})
    assert html.count('id="sitehub-batch"') == 1
    assert '<option value="el9">EL 9</option>' in html
    assert 'id="sitehub-run-local" name="run_local"' in html
    # the previous choice comes back, only the form's own keys
    assert '"image":"el9"' in html and "uid" not in html
    assert "</script>" not in html.split('id="sitehub-options-data">')[1].split("</script>")[0]


def test_nothing_offered_checks_run_locally(pair):
    module, model = pair
    empty = type(model())([], allow_local=True)
    html = module.render_form(empty)
    assert 'name="run_local" value="true" checked' in html
    assert 'id="sitehub-batch"' not in html


def test_local_only_takes_no_batch_option():
    assert form.local_only({}) == {}
    assert form.local_only({"run_local": ["on"]}) == {"run_local": True}
    with pytest.raises(OptionsError, match="batch options are not accepted"):
        form.local_only({"partition": "debug"})
