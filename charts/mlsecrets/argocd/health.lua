-- Argo CD health check for the mlsecrets.io kinds SecretBinding, SecretStore and
-- ClusterSecretStore (Lua 5.1, as Argo CD's gopher-lua runs it); one script serves all three
-- argocd-cm keys resource.customizations.health.mlsecrets.io_<Kind>.
-- Maps the Ready condition: True -> Healthy; False with a transient reason -> Progressing;
-- any other False -> Degraded (with the condition's reason and message); no status or
-- conditions yet, or an observedGeneration behind metadata.generation -> Progressing.
-- Tested by test/integration/argocd-health.test.ts. Never shows secret values: the
-- operator's condition messages carry none.
local hs = {}

-- Reasons the operator retries by itself, with backoff, without anyone changing anything: the
-- provider is down or throttling, or the work is under way. A binding that was Ready keeps its
-- Secret (last good values) meanwhile, so these read as Progressing, not Degraded: a throttling
-- blip must not turn an Application red or fail a sync. The message keeps the reason, and the
-- operator's alerts (MLSecretsProviderErrors) cover an outage that lasts.
-- StoreNotReady (a binding waiting on its store) is transient too: the store itself carries
-- the cause and shows Degraded when there is one.
local transient = {
  ProviderUnavailable = true,
  Throttled = true,
  Progressing = true,
  StoreNotReady = true,
}

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local reason = ready.reason or ""
local message = ready.message or ""
local text = reason
if message ~= "" then
  text = reason .. ": " .. message
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text
elseif ready.status == "False" and not transient[reason] then
  hs.status = "Degraded"
  hs.message = text
else
  -- False with a transient reason, or Unknown.
  hs.status = "Progressing"
  hs.message = text
end
return hs
