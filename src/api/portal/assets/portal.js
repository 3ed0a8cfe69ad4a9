// The portal's only script (served from its own origin; the Content-Security-Policy allows no other).
// 1. On the page a portal link opens, it reads the link's token from the fragment, removes it from
//    the address bar and history, and exchanges it for a session (an HttpOnly cookie).
// 2. Forms with data-confirm ask first; a secret's field selects itself when focused.

function exchange() {
  const token = window.location.hash.slice(1)
  window.history.replaceState(null, '', window.location.pathname)
  if (token === '') {
    window.location.replace('/portal/endpoints')
    return
  }
  fetch('/portal/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  })
    .then((answer) => window.location.replace(answer.ok ? '/portal/endpoints' : '/portal/ended'))
    .catch(() => window.location.replace('/portal/ended'))
}

document.addEventListener('DOMContentLoaded', () => {
  if (document.body.dataset.exchange === 'true') {
    exchange()
    return
  }
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault()
      }
    })
  }
  for (const input of document.querySelectorAll('input[data-select]')) {
    input.addEventListener('focus', () => input.select())
  }
})
