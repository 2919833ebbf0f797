// Mirrors "Nested Pipeline Executions > API Usage" (Scala object NestedPipelineExample) of the
// Pipeline Management guide, in Java with the same JDK HttpClient calls. play-json is replaced by
// JSON strings and a regex for the answer's "id"; the base URL comes from args[0] and each
// answer's status is printed as status=NNN.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class NestedPipelineExample {
    static int id(String json) {
        Matcher m = Pattern.compile("\"id\"\\s*:\\s*(\\d+)").matcher(json);
        if (!m.find()) throw new IllegalStateException("no \"id\" in answer: " + json);
        return Integer.parseInt(m.group(1));
    }

    public static void main(String[] args) throws Exception {
        String base = args.length > 0 ? args[0] : "http://localhost:8000";
        HttpClient client = HttpClient.newHttpClient();

        // Start main pipeline execution
        String mainJson = "{\"pipeline_id\": 1, \"start_date\": \"2024-01-01T10:00:00Z\"}";
        HttpRequest mainRequest = HttpRequest.newBuilder()
            .uri(URI.create(base + "/start_pipeline_execution"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(mainJson))
            .build();
        HttpResponse<String> mainResponse = client.send(mainRequest,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + mainResponse.statusCode());
        int mainExecutionId = id(mainResponse.body());

        // Start sub-pipeline with parent reference
        String subJson = "{\"pipeline_id\": 2, \"start_date\": \"2024-01-01T10:00:00Z\","
            + " \"parent_id\": " + mainExecutionId + "}";
        HttpRequest subRequest = HttpRequest.newBuilder()
            .uri(URI.create(base + "/start_pipeline_execution"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(subJson))
            .build();
        HttpResponse<String> subResponse = client.send(subRequest,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + subResponse.statusCode());
        System.out.println("Sub-pipeline started: " + subResponse.body());
    }
}
