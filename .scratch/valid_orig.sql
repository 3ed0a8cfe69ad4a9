CREATE OR REPLACE FUNCTION webhooks.render_arguments_valid(org_id text, render_id text, kind text, status text, template_id text, result_url text, duration_ms integer, webhook_url text, collection_id text, error jsonb)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  select coalesce(
    length(org_id) <= 200 and org_id ~ '^[A-Za-z0-9_.:-]+$'
    and length(render_id) <= 200 and render_id ~ '^[A-Za-z0-9_.:-]+$'
    and kind in ('image', 'video')
    and status in ('queued', 'rendering', 'completed', 'failed')
    and (template_id is null or (length(template_id) <= 200 and template_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (collection_id is null or (length(collection_id) <= 200 and collection_id ~ '^[A-Za-z0-9_.:-]+$'))
    and (duration_ms is null or duration_ms >= 0)
    -- check_url's rules: '@' is refused in the authority (credentials), control characters anywhere.
    and (webhook_url is null or (length(webhook_url) <= 2048
         and webhook_url ~* '^https?://[^/?#\s@]+([/?][^\s#]*)?$' and webhook_url !~ '[[:cntrl:]]'))
    and (result_url is null or length(result_url) <= 4096)
    and (error is null or (jsonb_typeof(error) = 'object'
         and error - array['code', 'message'] = '{}'::jsonb
         and coalesce(jsonb_typeof(error -> 'code'), 'string') = 'string'
         and coalesce(jsonb_typeof(error -> 'message'), 'string') = 'string'
         and length(error::text) <= 4096)),
    false)
$function$

