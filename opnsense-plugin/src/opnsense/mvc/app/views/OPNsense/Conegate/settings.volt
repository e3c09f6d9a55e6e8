{#
  Services > conegate > Settings: the General model's form. Apply saves config.xml, then
  /api/conegate/service/reconfigure renders the agent's config, has the agent validate it (the
  answer names the field it refuses) and restarts the service.
#}
<script>
    $(document).ready(function () {
        mapDataToFormUI({'frm_general': "/api/conegate/settings/get"}).done(function () {
            formatTokenizersUI();
            $('.selectpicker').selectpicker('refresh');
            updateServiceControlUI('conegate');
        });
        $("#reconfigureAct").SimpleActionButton({
            onPreAction: function () {
                const dfObj = new $.Deferred();
                saveFormToEndpoint("/api/conegate/settings/set", 'frm_general', function () { dfObj.resolve(); }, true, function () { dfObj.reject(); });
                return dfObj;
            },
            onAction: function (data) {
                if (data && data.status === 'failed' && data.message) {
                    BootstrapDialog.show({type: BootstrapDialog.TYPE_DANGER, title: "{{ lang._('conegate refused the settings') }}", message: $('<pre/>').text(data.message)});
                }
                updateServiceControlUI('conegate');
            }
        });
    });
</script>
<div class="content-box">
    {{ partial("layout_partials/base_form", ['fields': generalForm, 'id': 'frm_general']) }}
</div>
<section class="page-content-main">
    <div class="content-box">
        <div class="col-md-12">
            <br/>
            <button class="btn btn-primary" id="reconfigureAct"
                    data-endpoint="/api/conegate/service/reconfigure"
                    data-label="{{ lang._('Apply') }}"
                    data-error-title="{{ lang._('Error reconfiguring conegate') }}"
                    type="button"></button>
            <br/><br/>
        </div>
    </div>
</section>
