{#
  Services > conegate > Status: the shared front-end bundle (agent/src/web/model.ts is its contract),
  installed with this plugin under /ui/js/conegate/ and /ui/css/conegate/ (no CDN). The PageTransport
  block comes from PageTransport::block() (JSON with <, >, &, quotes escaped); the bundle reads it,
  polls /api/conegate/agent/page every 2 s and sends X-CSRFToken on writes.
#}
<link rel="stylesheet" type="text/css" href="{{ cache_safe('/ui/css/conegate/app.css') }}"/>
{{ transportBlock }}
<section class="page-content-main">
    <div class="content-box">
        <div id="conegate-app"></div>
    </div>
</section>
<script src="{{ cache_safe('/ui/js/conegate/app.js') }}" defer></script>
