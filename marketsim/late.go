package marketsim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Limits of /bad/late.
const (
	DefaultLateAfter = 1500 * time.Millisecond // /bad/late draw delay without ?after=
	MaxLateAfter     = 2 * time.Minute         // largest ?after= honoured
)

// LatePlaceholder is what /bad/late shows until it draws its description,
// and LateText the description it draws (it carries absolute terms, so a
// capture of the drawn page has findings and one of the placeholder none).
const (
	LatePlaceholder = "商品详情加载中，请稍候"
	LateText        = "本店招牌产品全网销量第一，国家级品质，效果最佳"
)

// lateEndpoints are the /bad/ index rows of the late-drawing page.
var lateEndpoints = [][2]string{
	{"/bad/late?after=1.5s", "a product page that shows a loading placeholder and draws its description after (1.5 s by default, at most 2 min) after the load event, with a setTimeout, as shop templates do after their data call"},
	{"/bad/late?after=1s&churn=ticker", "the same, with a countdown that a setInterval redraws every 100 ms for ever"},
	{"/bad/late?after=1s&churn=feed", "the same, then a comment feed that polls /bad/late/feed every 200 ms and appends each answer, for ever"},
	{"/bad/late/feed?i=1", "one answer of that comment feed"},
}

func (m *Market) registerLate(mux *http.ServeMux) {
	m.handleBad(mux, "/bad/late", serveLate)
	m.handleBad(mux, "/bad/late/feed", serveLateFeed)
}

// serveLate serves the late-drawing product page.
func serveLate(w http.ResponseWriter, r *http.Request) {
	after := DefaultLateAfter
	if q := r.URL.Query().Get("after"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 || d > MaxLateAfter {
			http.Error(w, "marketsim: query parameter after must be a duration from 0s to "+MaxLateAfter.String(), http.StatusBadRequest)
			return
		}
		after = d
	}
	churn := r.URL.Query().Get("churn")
	switch churn {
	case "", "ticker", "feed":
	default:
		http.Error(w, "marketsim: query parameter churn must be ticker or feed", http.StatusBadRequest)
		return
	}
	h := newHTML()
	h.head("延迟渲染的商品", false, false, 0)
	h.raw(fmt.Sprintf(lateBody, LatePlaceholder, strconv.Quote(LateText), after.Milliseconds(), strconv.Quote(churn)))
	h.raw("</body>\n</html>\n")
	w.Header().Set("Cache-Control", "no-store")
	writePage(w, h, false)
}

// serveLateFeed answers one poll of the late page's comment feed.
func serveLateFeed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "买家评论 %s", r.URL.Query().Get("i"))
}

// lateBody is the page of /bad/late: the placeholder, the text, the delay
// in ms and the churn mode.
const lateBody = `<h1>延迟渲染的商品</h1>
<div id="desc" class="skeleton"><p>%s</p></div>
<div id="churn"></div>
<script>
(function () {
  var text = %s, after = %d, churn = %s;
  var desc = document.getElementById("desc"), box = document.getElementById("churn");
  function draw() {
    desc.className = "";
    desc.innerHTML = "";
    var p = document.createElement("p");
    p.textContent = text;
    desc.appendChild(p);
  }
  function ticker() {
    var end = Date.now() + 3600 * 1000;
    setInterval(function () {
      box.textContent = "距结束 " + Math.max(0, end - Date.now()) / 1000;
    }, 100);
  }
  function feed() {
    var i = 0;
    function poll() {
      fetch("/bad/late/feed?i=" + (++i)).then(function (r) { return r.text(); }).then(function (t) {
        var p = document.createElement("p");
        p.textContent = t;
        box.appendChild(p);
        while (box.childNodes.length > 20) { box.removeChild(box.firstChild); }
        setTimeout(poll, 200);
      });
    }
    poll();
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      draw();
      if (churn === "ticker") { ticker(); }
      if (churn === "feed") { feed(); }
    }, after);
  });
})();
</script>
`
